from identity.main import run

run()
