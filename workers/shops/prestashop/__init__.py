"""PrestaShop Webservice (1.7 / 8.x): connector (`client`), mapping, XML bodies and sandbox."""
