from remote.main import run

run()
