"""Notifications: which events a sink wants, the message it gets, and the leader's delivery."""
