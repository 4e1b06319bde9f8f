{#- The source month a run refreshes: the vars service, year and month (the Mage pipelines pass
    their variables), checked here so that a bad value stops the run naming the var before any
    SQL runs. -#}

{% macro this_month() %}
  {%- set service = var('service') | string | lower | trim -%}
  {%- set fact_tables = var('fact_tables') -%}
  {%- if service not in fact_tables -%}
    {{ exceptions.raise_compiler_error("var 'service' is " ~ (var('service') | tojson) ~ ": expected one of "
                                       ~ (fact_tables | list | join(', ')) ~ " (the services with marts)") }}
  {%- endif -%}
  {%- set year = var('year') | string | trim -%}
  {%- set month = var('month') | string | trim -%}
  {%- if not (year.isdigit() and 2009 <= year | int <= 2100) -%}
    {{ exceptions.raise_compiler_error("var 'year' is " ~ (var('year') | tojson) ~ ": expected a year from 2009 on") }}
  {%- endif -%}
  {%- if not (month.isdigit() and 1 <= month | int <= 12) -%}
    {{ exceptions.raise_compiler_error("var 'month' is " ~ (var('month') | tojson) ~ ": expected 1 to 12") }}
  {%- endif -%}
  {{ return({
      'service': service,
      'service_type': service | capitalize,
      'fact': fact_tables[service],
      'first_day': '%04d-%02d-01' % (year | int, month | int),
  }) }}
{% endmacro %}

{#- The first day of the month, as a DATE literal both warehouses read. -#}
{% macro this_source_month() -%}
  cast('{{ this_month().first_day }}' as date)
{%- endmacro %}

{#- The rows one run replaces in its fact table (fact_trips holds two services, told apart by
    service_type; fact_fhv_trips one) and in int_monthly_zone_revenue. -#}
{% macro this_month_rows() -%}
  {%- if this_month().fact == 'fact_trips' -%}
    service_type = '{{ this_month().service_type }}' and {% endif -%}
  source_month = {{ this_source_month() }}
{%- endmacro %}

{#- The staging model of the run's service: only it is read (and compiled into the run). -#}
{% macro trips_of_the_service() -%}
  {{ ref('stg_' ~ this_month().service ~ '_tripdata') }}
{%- endmacro %}

{#- The fact table of the run's service, and whether a model belongs to it: a model says
    config(enabled=builds('fact_trips')), so a run builds and tests its service's fact table and
    what reads it, and leaves the other service's as they are. -#}
{% macro fact_of_the_service() -%}
  {{ ref(this_month().fact) }}
{%- endmacro %}

{% macro builds(fact) -%}
  {{ return(this_month().fact == fact) }}
{%- endmacro %}

{#- Tests of a month-sliced model check the run's month only: a refresh costs the month, not
    the table. A test says `where: __this_month__`; dbt calls this macro to apply it. -#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where') -%}
  {%- if where -%}
    {%- set where = where | replace('__this_month__', this_month_rows()) -%}
    (select * from {{ relation }} where {{ where }}) dbt_subquery
  {%- else -%}
    {{ relation }}
  {%- endif -%}
{%- endmacro %}
