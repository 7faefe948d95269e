from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from schools.models import Campus, District, FilerDesignation, School, User


class CampusInline(admin.TabularInline):
    model = Campus
    extra = 0


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
    list_display = ["username", "last_name", "first_name", "role", "district", "is_active"]
    list_filter = ["role", "district", "is_active"]
    fieldsets = [*UserAdmin.fieldsets, ("角色", {"fields": ["role", "district"]})]
    add_fieldsets = [*UserAdmin.add_fieldsets, ("角色", {"fields": ["role", "district"]})]
