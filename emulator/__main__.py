from emulator.cli import app

app(prog_name="emulator")
