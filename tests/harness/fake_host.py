"""One stand-in for a pyinfra host in unit tests: what the deploy code asks of a host
without connecting to one."""

from __future__ import annotations


class FakeHost:
    """An inventory host: its name and groups, the addresses its inventory names resolve to
    on its own interfaces (the answer to the LocalAddressOf fact; by default its name to
    itself), and the messages logged for it."""

    def __init__(self, name: str, addresses: dict[str, str] | None = None, groups=()):
        self.name = name
        self.groups = tuple(groups)
        self.addresses = {name: name} if addresses is None else addresses
        self.asked: list[str] = []
        self.messages: list[str] = []

    def get_fact(self, fact, address):
        self.asked.append(address)
        return self.addresses.get(address)

    def log(self, message, log_func=None):
        self.messages.append(message)

    def log_styled(self, message, log_func=None, **kw):
        self.messages.append(message)

    def __repr__(self):
        return f"FakeHost({self.name})"


class OneFactHost:
    """A host the code under test asks one fact about one `path` (of that `fact` class,
    when given): the answer is `answer`; asking about anything else fails the test."""

    def __init__(self, name: str, path: str, answer, fact=None):
        self.name, self.path, self.answer, self.fact = name, path, answer, fact

    def get_fact(self, fact, path):
        assert path == self.path and self.fact in (None, fact), (fact, path)
        return self.answer
