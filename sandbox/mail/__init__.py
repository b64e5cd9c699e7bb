"""The mail side of the simulated world: the structures' mailboxes, and prober's own mail host.

`MailSandbox` takes probes by SMTP and answers them as a `MailWorld` says, writing the ground
truth; `Dovecot` and `DovecotDelivery` play the provider of prober's own address (IMAP, and the
SMTP server that delivers into it).
"""

from sandbox.mail.compose import Outgoing, Probe, SentKind
from sandbox.mail.delivery import DovecotDelivery, trace_headers
from sandbox.mail.dovecot import Dovecot, MailUser, free_port
from sandbox.mail.errors import DeliveryFailed, DovecotStartFailed, MailServerUnavailable
from sandbox.mail.mailboxes import DEFAULT_HOSTNAME, MailSandbox, Relay
from sandbox.mail.truth import MailTruth, MailTruthLog, Outcome, read_mail_truth
from sandbox.mail.world import (
    MailBehaviourKind,
    MailboxBehaviour,
    MailWorld,
    load_mail_world,
    parse_mail_world,
)

__all__ = [
    "DEFAULT_HOSTNAME",
    "DeliveryFailed",
    "Dovecot",
    "DovecotDelivery",
    "DovecotStartFailed",
    "MailBehaviourKind",
    "MailSandbox",
    "MailServerUnavailable",
    "MailTruth",
    "MailTruthLog",
    "MailUser",
    "MailWorld",
    "MailboxBehaviour",
    "Outcome",
    "Outgoing",
    "Probe",
    "Relay",
    "SentKind",
    "free_port",
    "load_mail_world",
    "parse_mail_world",
    "read_mail_truth",
    "trace_headers",
]
