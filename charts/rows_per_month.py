"""Dashboard chart: per month, the rows the pipeline read, kept and rejected (load_audit).
The pipeline is the chart's `pipeline:` in its dashboard's block_layout.yaml."""
from utils.load_charts import pipeline_of, rows_per_month

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def rows_read_kept_rejected(*args, **kwargs):
    return rows_per_month(pipeline_of(kwargs.get('configuration')))
