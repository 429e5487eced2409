/* resp_pubsub.c: placeholder */
