"""developer-budget: a monthly AWS Budgets cost alarm in every developer playground account.

Playground accounts are where AdministratorAccess is handed out freely; a forgotten cluster there is
the classic surprise on the consolidated bill. The alarm notifies the account's owner by email at
80 % of actual and 100 % of forecast spend.
"""

from __future__ import annotations

from typing import Any

from generators.config.models import Environment, Organization

MONTHLY_LIMIT_USD = "100"


def apply(stack: Any, environment: Environment, organization: Organization) -> None:
    # Typed bindings: imported here, only when this extension is switched on (a 12-15 s import).
    from cdktf_cdktf_provider_aws.budgets_budget import BudgetsBudget, BudgetsBudgetNotification

    account = environment.account
    recipient = account.email or f"{account.owner}@{organization.name}.invalid"
    BudgetsBudget(
        stack,
        "developer_budget",
        name=f"{environment.name}-monthly",
        budget_type="COST",
        limit_amount=MONTHLY_LIMIT_USD,
        limit_unit="USD",
        time_unit="MONTHLY",
        notification=[
            BudgetsBudgetNotification(comparison_operator="GREATER_THAN", threshold=80,
                                      threshold_type="PERCENTAGE", notification_type="ACTUAL",
                                      subscriber_email_addresses=[recipient]),
            BudgetsBudgetNotification(comparison_operator="GREATER_THAN", threshold=100,
                                      threshold_type="PERCENTAGE", notification_type="FORECASTED",
                                      subscriber_email_addresses=[recipient]),
        ],
    )
