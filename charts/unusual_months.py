"""Dashboard table: the months the pipeline loaded that are unlike the service's other months
(flag_unusual_month: rows read, share kept or share without zones far outside their range),
newest first. The pipeline is the chart's `pipeline:` in its dashboard's block_layout.yaml."""

from utils.steps.load_charts import pipeline_of, unusual_months

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def months_unlike_their_neighbours(*args, **kwargs):
    return unusual_months(pipeline_of(kwargs.get('configuration')))
