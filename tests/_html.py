"""A strict HTML reader for the tests of ``_repr_html_`` output: counts tables, checks nesting."""

import html.parser


class Tables(html.parser.HTMLParser):
    """Feed HTML; every end tag must close the innermost open tag; ``tables`` counts ``<table>``s."""

    def __init__(self):
        super().__init__()
        self.stack, self.tables = [], 0

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()
