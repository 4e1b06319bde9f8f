"""What a run does with a month: which month it loads, its work files, its audit row and alert,
the reason a failure gives first, the sensors' wait, the blocks' functions (taxi_pipeline,
green_taxi_etl, marts), the marts that follow a load, the dashboards' data.
"""
