from billing.main import run

run()
