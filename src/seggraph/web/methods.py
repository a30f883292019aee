"""Every HTTP method, for a provider route that answers a wrong one itself.

Starlette answers a method a route does not take with a plain-text 405; seggraph's routes
answer every error as JSON. A route that lists :data:`ANY_METHOD` reaches its handler whatever
the method, and the handler answers the ones it does not take (with ``Allow``) in its own JSON
shape.
"""

ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
