"""Celery's broker transport: kombu's Redis transport, made to survive a Redis outage.

Celery 5.7 / kombu 5.7 (the newest releases) kill the worker when Redis goes away while the worker
holds unacknowledged messages — which is exactly when tasks wait for a retry (their countdown
is held in the worker). On a lost connection the consumer first drops the transport's client,
then closes the channel; closing tries to hand the held messages back to Redis through that
client and fails with an AttributeError that nothing catches: "Unrecoverable error", the
worker exits and stays down.

Handing them back cannot work anyway while Redis is down. They are still in Redis' `unacked`
hash, and Redis gives them back by itself after `visibility_timeout` (settings:
CELERY_VISIBILITY_TIMEOUT); if Redis lost them (a restart without persistence), the portal's
sweep queues the starts and stops again (REQUEST_REQUEUE_SECONDS). So when the connection is
already torn down, this transport forgets the held messages instead of crashing.

Selected with CELERY_BROKER_TRANSPORT; kombu documents custom transports as "module:Class".
"""

from __future__ import annotations

import logging

from kombu.transport import redis

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    def restore_unacked(self, client=None):
        if client is None and getattr(self.channel.connection, "client", None) is None:
            if self._delivered:
                logger.warning(
                    "the broker connection is gone: %d held message(s) come back after the visibility timeout",
                    len(self._delivered),
                )
            self._delivered.clear()
            return None
        return super().restore_unacked(client)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
