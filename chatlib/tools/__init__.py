"""Tools for people: they talk to a chat, local or on AWS, from outside it. None ships to Lambda.

cli            ``chatlib-local`` (``python -m chatlib.tools``): the commands and their options
serve          ``chatlib-local serve``: the local stack for an instructor, classroom mode
local_state    what a running ``serve`` tells the other commands (URLs, endpoint, secret)
log_tail       ``chatlib-local logs``: a function's CloudWatch Logs, like ``sam logs``
classroom      a roster's tokens and join links for the browser page
client         ChatClient: a websocket-client chat client for notebooks and tests
terminal_chat  the chat in a terminal
room_view      who is in which room, live, in a terminal or a notebook
scale_model    fan-out at AWS scale (notebook 08): one invocation or sharded, and its cost
static/        the browser chat page (the local gateway serves it at ``/chat``)
"""
