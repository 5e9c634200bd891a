include $(sort $(wildcard $(BR2_EXTERNAL_STM32MP_IMAGER_PATH)/package/*/*.mk))
