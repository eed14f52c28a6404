"""Tools for people: they talk to a chat, local or on AWS, from outside it. None ships to Lambda.

cli            ``chatlib-local`` (``python -m chatlib.tools``): serve, chat, rooms, token
client         ChatClient: a websocket-client chat client for notebooks and tests
terminal_chat  the chat in a terminal
room_view      who is in which room, live, in a terminal or a notebook
static/        the browser chat page (the local gateway serves it at ``/chat``)
"""
