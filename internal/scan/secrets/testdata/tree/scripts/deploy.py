import os

password = os.environ["DB_PASSWORD"]
client_secret = "ELidlvg3YjiYCX59W8vDXuHu"
PYPI_TOKEN = "pypi-AgEIcHlwaS5vcmcSnsNWKOok3trb-4FauXpsU8qJwQ0ZPTTYVIRCVuxqM9EAspy65oEEFuUbyDG1TdVYkaGbW"
DATABASE_URL = "postgres://app_user:CQP2rGYq5AAnJpBK@db.internal.corp:5432/app"
LOCAL_URL = "postgres://postgres:postgres@localhost/db"
DOC_URL = "https://user:password@example.com/"
REDIS_URL = "redis://:${REDIS_PASSWORD}@redis:6379"
QUEUE_URL = "amqp://guest:guest@localhost:5672/"
