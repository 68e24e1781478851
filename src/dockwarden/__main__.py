from dockwarden.cli import run

run()
