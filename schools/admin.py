from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin

from schools.models import Campus, City, District, FilerDesignation, School, User


class CampusInline(admin.TabularInline):
    model = Campus
    extra = 0


@admin.register(City)
class CityAdmin(admin.ModelAdmin):
    """A city's texts and rules; each policy year names its city (a second city is a row)."""

    list_display = ["code", "name", "app_name", "hotline", "benefit_start"]
    fields = ["code", "name", "app_name", "hotline", "benefit_start", "permit_prefixes"]


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "status"]
    list_filter = ["status"]
    search_fields = ["code", "name"]
    inlines = [CampusInline]


@admin.register(Campus)
class CampusAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "school", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name", "school__name"]


@admin.register(FilerDesignation)
class FilerDesignationAdmin(admin.ModelAdmin):
    list_display = ["user", "campus", "created_at"]
    search_fields = ["user__username", "campus__code", "campus__school__name"]
    autocomplete_fields = ["campus"]


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = [
        "username",
        "last_name",
        "first_name",
        "role",
        "district",
        "is_active",
        "login_locked",
    ]
    list_filter = ["role", "district", "is_active"]
    fieldsets = [*UserAdmin.fieldsets, ("角色", {"fields": ["role", "district"]})]
    add_fieldsets = [*UserAdmin.add_fieldsets, ("角色", {"fields": ["role", "district"]})]
    actions = ["unlock_logins"]

    @admin.display(description="登录已锁定", boolean=True)
    def login_locked(self, user: User) -> bool:
        failures = AccessAttempt.objects.filter(username=user.username).values_list(
            "failures_since_start", flat=True
        )
        return sum(failures) >= settings.AXES_FAILURE_LIMIT

    @admin.action(description="解除所选用户的登录锁定（连续密码错误导致）")
    def unlock_logins(self, request, queryset) -> None:
        from audit.services import Action, audit_record

        for user in queryset:
            if axes_reset(username=user.username):
                audit_record(
                    action=Action.UNLOCKED,
                    request=request,
                    target=f"user:{user.pk}",
                    detail={"user": user.username},
                )
        messages.success(request, f"已解除 {queryset.count()} 个用户的登录锁定")
