"""HTTP routes: each parses the request, calls one SQL function, returns its JSON."""
