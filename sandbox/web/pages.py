"""The pages of a simulated town hall's site, written as such sites are (menus, footer, legal
mentions), not shaped for any parser."""

from __future__ import annotations

import json
from dataclasses import replace
from html import escape

from sandbox.web.world import NESTING_DEPTH, SiteSpec

CONTACT_PATH = "/contact"
HIDDEN_CONTACT_PATH = "/vie-municipale/services/nous-contacter"


def national(e164: str) -> str:
    """+33388123456 -> 03 88 12 34 56, the way French sites write numbers."""
    digits = "0" + e164.removeprefix("+33")
    return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def contact_path(spec: SiteSpec) -> str:
    return HIDDEN_CONTACT_PATH if spec.behaviour == "contact_hidden" else CONTACT_PATH


def _dash(spec: SiteSpec, text: str) -> str:
    # An old Latin-1 site has no en dash (not in ISO-8859-1).
    return text.replace("–", "-") if spec.behaviour == "latin1" else text


def hours_lines(spec: SiteSpec) -> list[str]:
    """The hours as the site's text shows them, one line each."""
    joiner = " " if spec.layout == "hours_page" else " : "
    return [_dash(spec, f"{days}{joiner}{times}") for days, times in spec.hours]


def _head(spec: SiteSpec, title: str) -> str:
    charset = "" if spec.behaviour == "latin1" else '<meta charset="utf-8">\n'
    viewport = (
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        if spec.mobile
        else ""
    )
    return (
        f'<!DOCTYPE html>\n<html lang="fr">\n<head>\n{charset}{viewport}'
        f"<title>{escape(title)} - Mairie de {escape(spec.town)}</title>\n"
        '<link rel="stylesheet" href="/themes/mairie/css/style.css">\n'
        '<link rel="icon" href="/favicon.ico">\n</head>\n'
    )


def _menu(spec: SiteSpec) -> str:
    contact = (
        "" if spec.behaviour == "contact_hidden" else '<li><a href="/contact">Contact</a></li>'
    )
    return f"""<body>
<a class="lien-evitement" href="#contenu">Aller au contenu</a>
<header class="entete">
  <a href="/" class="logo">
    <img src="/images/logo.png" alt="Mairie de {escape(spec.town)} - accueil">
  </a>
  <nav class="menu-principal" aria-label="Menu principal">
    <ul>
      <li><a href="/">Accueil</a></li>
      <li><a href="/vie-municipale">Vie municipale</a></li>
      <li><a href="/demarches">Démarches</a></li>
      <li><a href="/enfance-jeunesse">Enfance &amp; jeunesse</a></li>
      <li><a href="/actualites">Actualités</a></li>
      {contact}
    </ul>
  </nav>
</header>
"""


def _footer(spec: SiteSpec) -> str:
    email = (
        ""
        if spec.behaviour == "obfuscated_email"
        else f'<br>Courriel : <a href="mailto:{spec.email}">{spec.email}</a>'
    )
    hours = ""
    if spec.layout == "footer":
        lines = "<br>\n      ".join(escape(line) for line in hours_lines(spec))
        hours = f"""  <div class="horaires">
    <h3>Horaires d'ouverture</h3>
    <p>{lines}</p>
  </div>
"""
    elif spec.layout == "hours_page":
        hours = '  <p class="horaires"><a href="/horaires">Horaires et accès</a></p>\n'
    social = "".join(
        f'<a href="{url}" class="reseau" title="Suivez-nous sur Facebook">'
        '<img src="/images/facebook.svg" alt="Facebook"></a>'
        for url in spec.social
    )
    accessibility = (
        f'<li><a href="/accessibilite">Accessibilité : {spec.accessibility}</a></li>'
        if spec.accessibility
        else ""
    )
    contact = (
        ""
        if spec.behaviour == "contact_hidden"
        else '<li><a href="/contact">Nous contacter</a></li>'
    )
    return f"""<footer class="pied-de-page">
  <div class="coordonnees">
    <h3>Mairie de {escape(spec.town)}</h3>
    <p>1 place de la Mairie<br>{spec.postcode} {escape(spec.town)}<br>
    Tél. : <a href="tel:{spec.phone}">{national(spec.phone)}</a>{email}</p>
  </div>
{hours}  <div class="reseaux">{social}</div>
  <ul class="liens-pied">
    <li><a href="/mentions-legales">Mentions légales</a></li>
    {accessibility}
    <li><a href="/plan-du-site">Plan du site</a></li>
    <li><a href="/donnees-personnelles">Données personnelles</a></li>
    {contact}
  </ul>
  <p class="copyright">© {escape(spec.town)} - Tous droits réservés</p>
</footer>
</body>
</html>
"""


def _page(spec: SiteSpec, title: str, main: str) -> str:
    return (
        _head(spec, title) + _menu(spec) + f'<main id="contenu">\n{main}\n</main>\n' + _footer(spec)
    )


def home(spec: SiteSpec) -> str:
    main = f"""<h1>Bienvenue à {escape(spec.town)}</h1>
<section class="actualites">
  <h2>Actualités</h2>
  <article><h3>Conseil municipal</h3><p>Le prochain conseil municipal se tiendra
  jeudi à 20h30 en salle du conseil. L'ordre du jour est affiché en mairie.</p>
  <a href="/actualites/conseil-municipal">Lire la suite</a></article>
  <article><h3>Inscriptions scolaires</h3><p>Les inscriptions pour la rentrée sont ouvertes
  jusqu'au 30 juin. Pièces à fournir : livret de famille, justificatif de domicile.</p>
  <a href="/actualites/inscriptions-scolaires">Lire la suite</a></article>
</section>
<section class="acces-rapides">
  <h2>En un clic</h2>
  <ul>
    <li><a href="/demarches/etat-civil">État civil</a></li>
    <li><a href="/demarches/urbanisme">Urbanisme</a></li>
    <li><a href="/vie-municipale/salles">Location de salles</a></li>
  </ul>
</section>"""
    if spec.behaviour == "nesting_bomb":
        main += '\n<div class="galerie">' + "<div>" * NESTING_DEPTH + "</div>" * NESTING_DEPTH
        main += "</div>"
    return _page(spec, "Accueil", main)


def contact(spec: SiteSpec) -> str:
    hours = ""
    if spec.layout == "contact_page":
        items = "\n  ".join(f"<dd>{escape(line)}</dd>" for line in hours_lines(spec))
        hours = f"""<dl class="infos-pratiques">
  <dt>Horaires d'accueil</dt>
  {items}
  <dt>Accès</dt>
  <dd>Parking gratuit place de l'Église</dd>
</dl>"""
    email = (
        f"<p>Vous pouvez aussi nous écrire : {spec.email.replace('@', ' [at] ')}</p>"
        if spec.behaviour == "obfuscated_email"
        else ""
    )
    main = f"""<h1>Nous contacter</h1>
<p>Mairie de {escape(spec.town)}<br>1 place de la Mairie<br>{spec.postcode} {escape(spec.town)}</p>
<p>Téléphone : {national(spec.phone)}</p>
{email}
{hours}
<h2>Formulaire de contact</h2>
<form action="{contact_path(spec)}" method="post" class="formulaire-contact">
  <p><label for="nom">Nom et prénom *</label>
    <input type="text" id="nom" name="nom" required></p>
  <p><label for="courriel">Courriel *</label>
    <input type="email" id="courriel" name="courriel" required></p>
  <p><label for="objet">Objet</label><select id="objet" name="objet"><option>État civil</option>
  <option>Urbanisme</option><option>Autre demande</option></select></p>
  <p><label for="message">Votre message *</label>
    <textarea id="message" name="message" rows="8" required></textarea></p>
  <p><button type="submit">Envoyer</button></p>
</form>"""
    return _page(spec, "Nous contacter", main)


def accessibility(spec: SiteSpec) -> str:
    main = f"""<h1>Déclaration d'accessibilité</h1>
<p>La commune de {escape(spec.town)} s'engage à rendre son site internet accessible
conformément à l'article 47 de la loi n° 2005-102 du 11 février 2005.</p>
<p>Cette déclaration d'accessibilité s'applique au site {spec.host}.</p>
<h2>État de conformité</h2>
<p>Le site {spec.host} est <strong>{spec.accessibility}</strong> avec le référentiel général
d'amélioration de l'accessibilité (RGAA), version 4.1.</p>
<h2>Résultats des tests</h2>
<p>L'audit de conformité réalisé révèle que 68 % des critères du RGAA version 4.1 sont
respectés.</p>
<h2>Contenus non accessibles</h2>
<ul><li>Certains documents PDF ne sont pas balisés.</li>
<li>Certaines images n'ont pas d'alternative textuelle.</li></ul>
<h2>Voies de recours</h2>
<p>Si vous constatez un défaut d'accessibilité vous empêchant d'accéder à un contenu, vous
pouvez adresser un message au Défenseur des droits.</p>"""
    return _page(spec, "Déclaration d'accessibilité", main)


def legal(spec: SiteSpec) -> str:
    main = f"""<h1>Mentions légales</h1>
<h2>Éditeur du site</h2>
<p>Mairie de {escape(spec.town)}, 1 place de la Mairie, {spec.postcode} {escape(spec.town)}.</p>
<p>Directeur de la publication : le maire.</p>
<h2>Hébergement</h2>
<p>Hébergeur exemple SAS, 2 rue des Serveurs, 59100 Roubaix.</p>
<h2>Propriété intellectuelle</h2>
<p>Les contenus de ce site sont la propriété de la commune, sauf mention contraire.</p>"""
    return _page(spec, "Mentions légales", main)


def hours_page(spec: SiteSpec) -> str:
    rows = "\n".join(
        f'  <tr><th scope="row">{escape(days)}</th><td>{escape(_dash(spec, times))}</td></tr>'
        for days, times in spec.hours
    )
    main = f"""<h1>Horaires et accès</h1>
<p>L'accueil de la mairie reçoit le public :</p>
<table class="tableau-horaires">
{rows}
</table>
<h2>Accès</h2>
<p>Parking gratuit place de l'Église. Accès pour les personnes à mobilité réduite par
l'entrée latérale.</p>"""
    return _page(spec, "Horaires et accès", main)


def simple(spec: SiteSpec, title: str, links: tuple[tuple[str, str], ...] = ()) -> str:
    items = "".join(f'<li><a href="{href}">{escape(text)}</a></li>' for href, text in links)
    main = f"<h1>{escape(title)}</h1>\n<p>Page en cours de mise à jour.</p>\n<ul>{items}</ul>"
    return _page(spec, title, main)


def javascript_app(spec: SiteSpec) -> str:
    """The script that builds the JavaScript-only site's home page in the browser."""
    page = home(replace(spec, behaviour="ok"))
    body = page.split("<body>", 1)[1].rsplit("</body>", 1)[0]
    return f"document.body.innerHTML = {json.dumps(body)};\n"


def javascript_shell(spec: SiteSpec) -> str:
    return (
        _head(spec, "Accueil")
        + '<body>\n<div id="app">Chargement…</div>\n'
        + '<script src="/static/js/app.3f2a1c.js"></script>\n</body>\n</html>\n'
    )


def huge_prefix(spec: SiteSpec) -> str:
    """The beginning of the 50 MB page: a header with the number, then the endless gallery."""
    return (
        _head(spec, "Accueil")
        + f"<body>\n<header><p>Mairie de {escape(spec.town)} - Tél. : {national(spec.phone)}"
        + '</p></header>\n<main><div class="galerie">\n'
    )
