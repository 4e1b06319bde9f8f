"""Dashboard chart: the rows the pipeline read per month, on a log10 scale so a small month shows
beside a large one (load_audit: the month's latest successful write). The pipeline is the
chart's `pipeline:` in its dashboard's block_layout.yaml."""

from utils.steps.load_charts import pipeline_of, rows_per_month, rows_read_log_scale

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def rows_read_per_month(*args, **kwargs):
    return rows_read_log_scale(rows_per_month(pipeline_of(kwargs.get('configuration'))))
