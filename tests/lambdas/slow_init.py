"""A function whose import (Lambda's init phase) takes longer than its whole timeout."""

import time

time.sleep(1.5)


def connect(event, context):
    return {"statusCode": 200}
