"""Dashboard chart: per run, the seconds each audited block took (load_audit). The blocks are the
chart's `blocks:` (its legend), the pipeline its `pipeline:` (the dashboard's block_layout.yaml)."""

from utils.steps.load_charts import pipeline_of, seconds_column, seconds_per_block

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def block_seconds_per_run(*args, **kwargs):
    configuration = kwargs.get('configuration') or {}
    blocks = configuration.get('blocks') or []
    frame = seconds_per_block(pipeline_of(configuration), blocks)
    return frame.rename(columns={block: seconds_column(block) for block in blocks})
