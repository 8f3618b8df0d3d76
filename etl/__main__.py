from etl.cli import app

app(prog_name="etl")
