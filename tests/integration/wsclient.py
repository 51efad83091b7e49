"""A raw-socket websocket client for the tests: it can send any frame, right
or wrong, and reads the server's frames one by one."""
import base64
import hashlib
import os
import socket
import struct

GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xa, 0x0


class Closed(Exception):
    pass


class WsClient:
    def __init__(self, port, path='/echo', headers=None, timeout=10.0):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.buffer = b''
        key = base64.b64encode(os.urandom(16)).decode()
        head = ('GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n'
                'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n'
                % (path, port, key))
        head += ''.join('%s: %s\r\n' % kv for kv in (headers or {}).items()) + '\r\n'
        self.sock.sendall(head.encode())
        response = self._read_until(b'\r\n\r\n').decode('latin-1')
        self.status_line = response.split('\r\n', 1)[0]
        if ' 101 ' not in self.status_line:
            raise AssertionError('handshake refused: ' + response)
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if 'Sec-WebSocket-Accept: %s' % accept not in response:
            raise AssertionError('bad Sec-WebSocket-Accept: ' + response)

    def _read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed('connection closed during the handshake')
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed('connection closed')
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    # -- sending ------------------------------------------------------------

    @staticmethod
    def frame(opcode, payload=b'', fin=True, rsv=0, mask=True, length=None):
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload) if length is None else length
        if n < 126:
            header = struct.pack('!BB', first, (0x80 if mask else 0) | n)
        elif n < 65536:
            header = struct.pack('!BBH', first, (0x80 if mask else 0) | 126, n)
        else:
            header = struct.pack('!BBQ', first, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            header += key
        return header + payload

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b'', **kwargs):
        self.sock.sendall(self.frame(opcode, payload, **kwargs))

    def send_text(self, text):
        self.send(TEXT, text.encode())

    def send_binary(self, data):
        self.send(BINARY, data)

    def close(self, code=1000, reason=''):
        self.send(CLOSE, struct.pack('!H', code) + reason.encode())

    # -- receiving ----------------------------------------------------------

    def recv_frame(self):
        """(fin, opcode, payload) of the next frame from the server."""
        b0, b1 = self._read_exactly(2)
        assert not b1 & 0x80, 'the server masked a frame'
        assert not b0 & 0x70, 'the server set reserved bits'
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack('!H', self._read_exactly(2))[0]
        elif n == 127:
            n = struct.unpack('!Q', self._read_exactly(8))[0]
        return bool(b0 & 0x80), b0 & 0x0f, self._read_exactly(n)

    def recv(self):
        """(opcode, payload) of the next data message; pings are answered,
        a close frame raises Closed with .code and .reason."""
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == PING:
                self.send(PONG, payload)
                continue
            if opcode == CLOSE:
                error = Closed('closed by the server')
                error.code = struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else None
                error.reason = payload[2:].decode()
                raise error
            assert fin, 'the server fragmented a message'
            return opcode, payload

    def expect_close(self):
        """The server's close frame: (code, reason); then EOF."""
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == CLOSE:
                code = struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:].decode('utf-8', 'replace')

    def at_eof(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b''
        except ConnectionResetError:
            return True

    def shutdown(self):
        self.sock.close()
