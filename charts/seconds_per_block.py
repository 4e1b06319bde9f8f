"""Dashboard chart: per run, the seconds each audited block took (load_audit). The blocks are
the chart's metrics, the pipeline its `pipeline:` (the dashboard's block_layout.yaml)."""
from utils.load_charts import pipeline_of, seconds_per_block

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def block_seconds_per_run(*args, **kwargs):
    configuration = kwargs.get('configuration') or {}
    blocks = [metric['column'] for metric in configuration.get('metrics', [])]
    return seconds_per_block(pipeline_of(configuration), blocks)
