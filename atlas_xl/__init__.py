"""Atlas Settlement: settlement and payout operations for a fintech lender / factoring business."""

__version__ = "0.1.0"
