"""Dashboard chart: per month, the % of the rows read that were kept, dropped by the cleaning
rules, or kept aside as malformed (load_audit: the month's latest successful write). Each bar is
labelled with what it counts. The pipeline is the chart's `pipeline:` (block_layout.yaml)."""

from utils.steps.load_charts import pipeline_of, rows_per_month, what_became_of_the_rows

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def kept_dropped_malformed_per_month(*args, **kwargs):
    return what_became_of_the_rows(rows_per_month(pipeline_of(kwargs.get('configuration'))))
