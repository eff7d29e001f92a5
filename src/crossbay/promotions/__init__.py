"""Promotions: coupons and spend-threshold discounts (满减)."""
