"""``python -m app.simulator --port 8900 --scenario tay-ninh-2023``."""

from app.simulator.server import main

main()
