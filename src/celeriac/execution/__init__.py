"""The bottom of the task stack: context, request, outcome, call options, app protocols."""
