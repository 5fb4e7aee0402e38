from hydropimd.cli.main import run

run()
