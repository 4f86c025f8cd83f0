"""The WSGI entry point for production servers: `granian --interface wsgi api.wsgi:app`
(what `certamen serve --production` runs)."""
from api import create_app
from settings import Settings

app = create_app(settings=Settings.from_env())
