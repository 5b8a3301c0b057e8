from assets.main import run

run()
