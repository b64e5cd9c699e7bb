"""What the simulated structures write: French replies and notices, and the MTA's bounce text."""

from __future__ import annotations

DEFAULT_SIGNATURE = "Le service accueil"

HUMAN_REPLY_BODY = """\
Bonjour,

Suite à votre message, nous vous confirmons que votre demande peut être traitée par nos \
services. N'hésitez pas à nous recontacter pour toute précision.

Cordialement,
{signature}
"""

ACK_SUBJECT = "Accusé de réception : {subject}"
ACK_BODY = """\
Bonjour,

Nous accusons réception de votre message du {date}. Il sera traité dans les meilleurs délais.

Ceci est un message automatique, merci de ne pas y répondre.

{signature}
"""

OUT_OF_OFFICE_SUBJECT = "Réponse automatique : absence du bureau"
OUT_OF_OFFICE_BODY = """\
Bonjour,

Je suis absent(e) du bureau et ne consulte pas ma messagerie. Votre message ne sera pas \
transféré ; pour toute demande urgente, merci de contacter l'accueil.

Cordialement,
{signature}
"""

# A reply written as a new message: the person typed a subject of their own.
NEW_SUBJECT = "Votre demande"
REPLY_PREFIX = "RE: "

# Postfix's bounce (bounce(8) template), as the structures' MTAs mostly send it.
BOUNCE_SUBJECT = "Undelivered Mail Returned to Sender"
BOUNCE_FROM_NAME = "Mail Delivery System"
BOUNCE_DIAGNOSTIC = "550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
BOUNCE_BODY = """\
This is the mail system at host {hostname}.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{recipient}>: {diagnostic}
"""
