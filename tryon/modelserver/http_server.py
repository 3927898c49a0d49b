"""The model server's HTTP server: werkzeug's threaded WSGI server (one thread per
connection; the model server's only callers are the API's job threads), with the errors it
answers itself (a malformed request line, an oversized header) as JSON like every other
answer, instead of http.server's HTML page."""
import json

from werkzeug.serving import WSGIRequestHandler, make_server


class JsonErrorRequestHandler(WSGIRequestHandler):
    def send_error(self, code, message=None, explain=None):
        short, _ = self.responses.get(code, ("Error", ""))
        body = json.dumps({"error": {"code": short.upper().replace(" ", "_"),
                                     "message": message or short}}).encode()
        self.log_error("code %d, message %s", code, message)
        # http.server answers a request line it could not parse as HTTP/0.9, with no status
        # line or headers at all; nobody speaks 0.9 any more, so answer as HTTP/1.1.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"
        self.send_response(code, short)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def build_http_server(app, host, port):
    return make_server(host, port, app, threaded=True, request_handler=JsonErrorRequestHandler)
