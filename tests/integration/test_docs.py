"""What the README shows works as shown: its ini listing is example.ini,
uWSGI can read every line of it (no value with a trailing comment: ini
files have comment lines only), and the example serves."""
import os
import re
import unittest

from tests.integration.harness import BUILD, ROOT, Uwsgi, free_port, get


def read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def readme_ini_listing():
    text = read('README.rst')
    start = text.index('``example.ini`` serves')
    block = text[text.index('::\n\n', start) + 4:]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith('    '):
            break
        lines.append(line[4:])
    return '\n'.join(lines).strip() + '\n'


class ReadmeTest(unittest.TestCase):

    def test_the_ini_listing_is_example_ini(self):
        ini = read('example.ini')
        self.assertEqual(readme_ini_listing(), ini[ini.index('[uwsgi]'):])

    def test_no_value_carries_a_comment(self):
        for number, line in enumerate(read('example.ini').splitlines(), 1):
            if '=' in line and not line.lstrip().startswith((';', '#')):
                self.assertNotRegex(line.partition('=')[2], r'\s[;#]', 'example.ini:%d' % number)

    def test_the_example_serves(self):
        options = []
        for line in read('example.ini').splitlines():
            key, sep, value = (part.strip() for part in line.partition('='))
            if not sep or key.startswith((';', '#', '[')):
                continue
            value = value.replace('%dbuild', BUILD)
            if key == 'http-socket':
                port = free_port()
                value = '127.0.0.1:%d' % port
            options.append((key, value))
        server = Uwsgi(options=options)
        server.port = port  # example.ini's socket, moved to a free port
        with server:
            self.assertEqual(get(port, '/hello').text, 'Hello World\n')
            self.assertEqual(get(port, '/?sleep=0').status, 200)
            self.assertRegex(get(port, '/hello').headers.get('x-response-time', ''), r'^\d')


if __name__ == '__main__':
    unittest.main()
