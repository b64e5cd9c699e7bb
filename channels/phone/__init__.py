"""The phone channel: scripted calls through Twilio, and what they measure.

``twilio_client`` places and reconciles calls, ``script`` answers Twilio's webhooks with the call
script's TwiML, ``webhooks`` checks and reads Twilio's requests as events, ``speech`` tells a
person from a voicemail or a menu, ``measure`` turns a call's events into its measurement.
"""
