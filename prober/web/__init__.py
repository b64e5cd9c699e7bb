"""The web apps: Twilio's webhooks and the results API."""
