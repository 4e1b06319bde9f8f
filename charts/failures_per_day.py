"""Dashboard chart: per day, the pipeline's runs and how many of them failed (load_audit), one
bar each, labelled `<day> runs` / `<day> failed`. The pipeline is the chart's `pipeline:` in its
dashboard's block_layout.yaml."""

from utils.steps.load_charts import failures_per_day, pipeline_of, runs_per_day_labelled

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def runs_and_failed_runs_per_day(*args, **kwargs):
    return runs_per_day_labelled(failures_per_day(pipeline_of(kwargs.get('configuration'))))
