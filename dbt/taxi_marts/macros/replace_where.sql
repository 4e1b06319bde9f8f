{#- materialized='replace_where': the model's rows replace the rows of the table that the
    config replace_where (a predicate) selects, in ONE transaction: readers see the old rows or
    the new ones, and a run that fails midway leaves the old ones. The first run creates the
    table from the rows (with the model's partition_by / cluster_by / indexes); --full-refresh
    recreates it.
    fact_trips and int_monthly_zone_revenue replace one source month with it (a month's reload
    changes exactly its rows); dim_zones replaces all its rows (replace_where='true').
    dbt's incremental strategies do not fit both warehouses: dbt-bigquery accepts no custom
    strategy and its insert_overwrite replaces whole partitions (the month of every service). -#}

{% materialization replace_where, default %}
  {%- set predicate = config.require('replace_where') -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing = load_cached_relation(this) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {%- if existing is not none and (should_full_refresh() or not existing.is_table) -%}
    {% do adapter.drop_relation(existing) %}
    {%- set existing = none -%}
  {%- endif -%}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main') -%}
    {{ adapter.dispatch('replace_where_sql')(target_relation, sql, predicate, existing is none) }}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {% do adapter.commit() %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{#- PostgreSQL: dbt runs the statements in one transaction and commits after them. -#}
{% macro default__replace_where_sql(relation, sql, predicate, create) %}
  {%- if create %}
    {{ create_table_as(False, relation, sql) }};
    {%- for index in config.get('indexes', []) %}
    {{ get_create_index_sql(relation, index) }};
    {%- endfor %}
  {%- else %}
    delete from {{ relation }} where {{ predicate }};
    insert into {{ relation }}
    select * from (
      {{ sql }}
    ) as model_rows;
  {%- endif %}
{% endmacro %}

{#- BigQuery: a script, one job. The first run creates the table (a DDL statement is atomic, and
    cannot be inside a transaction), then puts the rows in; later runs replace them in a
    transaction. The create is a script too (BEGIN ... END): dbt reads a lone CREATE TABLE AS's
    destination table from the job, which the BigQuery emulator does not report.
    The emulator fails a job that creates a table of no rows (TypeError: unsupported operand
    type(s) for *: 'NoneType' and 'int'; a CREATE TABLE with columns too), as a service's first
    month with no located trip makes (fhv 2019-01: every zone empty). So the table is created from
    the model's rows or, when it has none, from one row of NULLs (a left join of one row to the
    rows, on true), emptied and given the model's rows in the same job: no row of NULLs is left,
    and the rows are the model's (tests/pipelines/test_bigquery_marts.py). -#}
{% macro bigquery__replace_where_sql(relation, sql, predicate, create) %}
  {%- if create %}
    begin
    {{ create_table_as(False, relation, 'select model_rows.* from unnest([1]) left join (' ~ sql ~ ') as model_rows on true') }};
    delete from {{ relation }} where true;
    insert into {{ relation }}
    select * from (
      {{ sql }}
    ) as model_rows;
    end;
  {%- else %}
    begin transaction;
    delete from {{ relation }} where {{ predicate }};
    insert into {{ relation }}
    select * from (
      {{ sql }}
    ) as model_rows;
    commit transaction;
  {%- endif %}
{% endmacro %}
