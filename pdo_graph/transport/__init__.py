"""The HTTP transport of ``/graphql``: reading a request (``params``), the endpoint that runs it
(``endpoint``), and the middleware that gives every request its id, its metric and its log line
(``middleware``)."""
