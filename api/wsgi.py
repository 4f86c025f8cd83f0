"""The WSGI entry point for production servers: `granian --interface wsgi api.wsgi:app` (what `certamen serve --production` runs)."""
from api import create_app

app = create_app()
