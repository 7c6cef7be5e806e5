"""Domain: money, the data model and its closed sets, calendar, input schemas, account checks, EPC text."""
