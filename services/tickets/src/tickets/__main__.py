from tickets.main import run

run()
