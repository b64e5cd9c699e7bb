"""Adapters to the outside world: phone (Twilio), email, letter.

A channel knows nothing of storage: it takes what a probe needs, talks to the world and returns
timestamped ``ObservedEvent``s that the application stores.
"""
