"""Local fakes of the providers the notification code talks to (Slack, Twilio, webhooks, PagerDuty, SMTP)."""
