"""Dashboard chart: the seconds each audited block took in each of the pipeline's latest runs
(load_audit), one bar each, labelled `#<run id> <service> <month> <block>`: what the run loaded. The
blocks are the chart's `blocks:`, the pipeline its `pipeline:` (the dashboard's block_layout.yaml)."""

from utils.steps.load_charts import pipeline_of, seconds_per_block

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def block_seconds_per_run(*args, **kwargs):
    configuration = kwargs.get('configuration') or {}
    return seconds_per_block(pipeline_of(configuration), configuration.get('blocks') or [])
